#include <cstdio>

int main() {
    std::printf("hello from C++\n");
    return 0;
}
