package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	r := bufio.NewReader(os.Stdin)
	var n, s int64
	fmt.Fscan(r, &n)
	for i := int64(0); i < n; i++ {
		var x int64
		fmt.Fscan(r, &x)
		s += x
	}
	fmt.Println(s)
}
