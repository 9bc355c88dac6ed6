// 1000_A. Codehorses T-shirts: sizes that need no change are the multiset intersection.
#include <iostream>
#include <map>
#include <string>

int main() {
    int n;
    std::cin >> n;
    std::map<std::string, int> last;
    for (int i = 0; i < n; i++) {
        std::string s;
        std::cin >> s;
        last[s]++;
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        std::string s;
        std::cin >> s;
        if (last[s] > 0) {
            last[s]--;
            kept++;
        }
    }
    std::cout << n - kept << "\n";
}
