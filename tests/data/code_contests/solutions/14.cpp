// 1238_B. Kill 'Em All: shoot the farthest distinct monster while it is still right of 0.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

int main() {
    int q;
    if (scanf("%d", &q) != 1) return 1;
    while (q--) {
        int n;
        long long r;
        scanf("%d %lld", &n, &r);
        std::vector<long long> x(n);
        for (auto& v : x) scanf("%lld", &v);
        std::sort(x.begin(), x.end(), std::greater<long long>());
        x.erase(std::unique(x.begin(), x.end()), x.end());
        long long shots = 0;
        for (long long v : x) {
            if (v - shots * r <= 0) break;
            shots++;
        }
        printf("%lld\n", shots);
    }
}
