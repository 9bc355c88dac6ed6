// 1342_C. Yet Another Counting Problem: the condition repeats with period a*b; count by prefix sums.
#include <cstdio>
#include <vector>

int main() {
    int t;
    if (scanf("%d", &t) != 1) return 1;
    while (t--) {
        long long a, b;
        int q;
        scanf("%lld %lld %d", &a, &b, &q);
        long long period = a * b;
        std::vector<long long> prefix(period + 1, 0);  // prefix[i]: count in [0, i)
        for (long long x = 0; x < period; x++) prefix[x + 1] = prefix[x] + ((x % a) % b != (x % b) % a);
        auto upto = [&](long long x) {  // count in [0, x]
            return (x + 1) / period * prefix[period] + prefix[(x + 1) % period];
        };
        for (int i = 0; i < q; i++) {
            long long l, r;
            scanf("%lld %lld", &l, &r);
            printf("%lld ", upto(r) - upto(l - 1));
        }
        printf("\n");
    }
}
