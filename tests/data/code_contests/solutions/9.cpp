// 1139_C. Edgy Trees: n^k minus the sequences that stay inside one red component.
#include <cstdio>
#include <numeric>
#include <vector>

const long long MOD = 1000000007LL;

long long power(long long b, long long e) {
    long long r = 1;
    b %= MOD;
    while (e) {
        if (e & 1) r = r * b % MOD;
        b = b * b % MOD;
        e >>= 1;
    }
    return r;
}

std::vector<int> parent;

int find(int v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
}

int main() {
    int n, k;
    if (scanf("%d %d", &n, &k) != 2) return 1;
    parent.resize(n + 1);
    std::iota(parent.begin(), parent.end(), 0);
    for (int i = 0; i < n - 1; i++) {
        int u, v, x;
        scanf("%d %d %d", &u, &v, &x);
        if (x == 0) parent[find(u)] = find(v);
    }
    std::vector<long long> size(n + 1, 0);
    for (int v = 1; v <= n; v++) size[find(v)]++;
    long long bad = 0;
    for (int v = 1; v <= n; v++)
        if (size[v]) bad = (bad + power(size[v], k)) % MOD;
    printf("%lld\n", ((power(n, k) - bad) % MOD + MOD) % MOD);
}
