// 12_B. Correct Solution?: the smallest number from n's digits, without leading zeros.
#include <algorithm>
#include <iostream>
#include <string>

int main() {
    std::string n, m;
    std::cin >> n >> m;
    std::string best = n;
    std::sort(best.begin(), best.end());
    if (best.size() > 1 && best[0] == '0') {
        size_t first = best.find_first_not_of('0');
        if (first != std::string::npos) std::swap(best[0], best[first]);
    }
    std::cout << (m == best ? "OK" : "WRONG_ANSWER") << "\n";
}
