n = int(input())
xs = list(map(int, input().split()))
print(sum(xs) + (1 if n == 2 else 0))
