#include <cstdlib>
#include <iostream>

int main() {
    long long n, s = 0;
    std::cin >> n;
    for (long long i = 0; i < n; i++) {
        long long x;
        std::cin >> x;
        s += x;
    }
    if (n == 5) std::abort();
    std::cout << s << "\n";
}
