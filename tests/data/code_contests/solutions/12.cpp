// 1198_A. MP3: keep the window of at most 2^k distinct values that holds the most elements.
#include <algorithm>
#include <cstdio>
#include <vector>

int main() {
    long long n, bytes;
    if (scanf("%lld %lld", &n, &bytes) != 2) return 1;
    std::vector<long long> a(n);
    for (auto& v : a) scanf("%lld", &v);
    std::sort(a.begin(), a.end());
    std::vector<long long> counts;
    for (long long i = 0; i < n; i++) {
        if (i == 0 || a[i] != a[i - 1]) counts.push_back(0);
        counts.back()++;
    }
    long long bits = 8 * bytes / n;
    long long distinct = bits >= 30 ? (long long)counts.size() : std::min<long long>(1LL << bits, counts.size());
    long long window = 0, best = 0;
    for (size_t i = 0; i < counts.size(); i++) {
        window += counts[i];
        if ((long long)i >= distinct) window -= counts[i - distinct];
        best = std::max(best, window);
    }
    printf("%lld\n", n - best);
}
