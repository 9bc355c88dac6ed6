import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;

/**
 * sandcheck's javac compile service (javac_service.py starts it in a compile jail).
 *
 * A cold javac spends most of its CPU loading and interpreting the compiler; kept in one JVM, the
 * compiler's code is JIT-compiled once and each further compile costs a fraction. Each request is
 * still a compile of its own: com.sun.tools.javac.Main, as the javac launcher calls it, with a
 * fresh compiler context, its output written where the launcher's would go (System.out and
 * System.err, here captured per compile, kept up to the request's cap).
 *
 * Protocol, one request at a time, in the working directory (the jail's /build):
 *   start:    args are a warm-up compile (source and -d outside /build); "ready\n" once it
 *             compiled; otherwise its messages on stderr and exit status 70
 *   request:  one line on stdin: the output cap in bytes, then javac's arguments, tab-separated
 *   answer:   one line on stdout:
 *             {"exit":N,"stdout":"<base64>","stderr":"<base64>","stdout_dropped":N,"stderr_dropped":N}
 * A compile without -proc:none, the warm-up's or a request's, is refused (exit status 71): no
 * annotation processor, code that a request could bring, ever runs in this JVM. The JVM's own messages go to the real stderr.
 */
final class JavacService {
    private static final String NO_PROCESSORS = "-proc:none";

    /** Keeps the first `cap` bytes written to it and counts the rest. */
    private static final class Capped extends OutputStream {
        private final byte[] kept;
        private int size;
        private long dropped;

        Capped(int cap) {
            kept = new byte[cap];
        }

        @Override
        public void write(int b) {
            if (size < kept.length) {
                kept[size++] = (byte) b;
            } else {
                dropped++;
            }
        }

        @Override
        public void write(byte[] b, int off, int len) {
            int room = Math.min(len, kept.length - size);
            System.arraycopy(b, off, kept, size, room);
            size += room;
            dropped += len - room;
        }

        String base64() {
            return Base64.getEncoder().encodeToString(Arrays.copyOf(kept, size));
        }
    }

    private static int compile(String[] args, Capped out, Capped err) {
        PrintStream stdout = System.out, stderr = System.err;
        // The launcher's javac writes to System.out and System.err, which com.sun.tools.javac.Main
        // reads when it starts a compile: point them at this compile's buffers, then back.
        try (PrintStream o = new PrintStream(out, true); PrintStream e = new PrintStream(err, true)) {
            System.setOut(o);
            System.setErr(e);
            return com.sun.tools.javac.Main.compile(args);
        } finally {
            System.setOut(stdout);
            System.setErr(stderr);
        }
    }

    /** Exits (71) unless `args` turn annotation processing off. */
    private static void requireNoProcessors(String[] args) {
        if (!Arrays.asList(args).contains(NO_PROCESSORS)) {
            System.err.println("refused: a compile without " + NO_PROCESSORS);
            System.exit(71);
        }
    }

    public static void main(String[] warmUp) throws Exception {
        requireNoProcessors(warmUp);
        PrintStream answers = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.US_ASCII);
        Capped out = new Capped(1 << 16), err = new Capped(1 << 16);
        if (compile(warmUp, out, err) != 0) {
            System.err.write(Arrays.copyOf(err.kept, err.size));
            System.err.flush();
            System.exit(70);
        }
        answers.print("ready\n");
        answers.flush();
        BufferedReader requests = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = requests.readLine()) != null; ) {
            String[] fields = line.split("\t", -1);
            String[] args = Arrays.copyOfRange(fields, 1, fields.length);
            requireNoProcessors(args);
            int cap = Integer.parseInt(fields[0]);
            out = new Capped(cap);
            err = new Capped(cap);
            int exit = compile(args, out, err);
            answers.print("{\"exit\":" + exit + ",\"stdout\":\"" + out.base64() + "\",\"stderr\":\"" + err.base64()
                          + "\",\"stdout_dropped\":" + out.dropped + ",\"stderr_dropped\":" + err.dropped + "}\n");
            answers.flush();
        }
    }
}
