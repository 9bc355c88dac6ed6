import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long n = in.nextLong(), s = 0;
        for (long i = 0; i < n; i++) {
            s += in.nextLong();
        }
        System.out.println(s);
    }
}
