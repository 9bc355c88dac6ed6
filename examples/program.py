import sys

print("hello from the jail")
print(sum(range(10**6)), file=sys.stderr)
