// tsc from a Node.js startup snapshot, with the standard library's .d.ts files already parsed and bound.
//
// Built on the host by tsc_snapshot.py, from Debian's TypeScript (never from a request):
//   node --snapshot-blob tsc.blob --build-snapshot tsc_snapshot.js TYPESCRIPT_JS TSC_ARGS...
// and run in the compile jail as `node --snapshot-blob tsc.blob FILE TSC_ARGS...`. Each compile is a
// fresh process started from that fixed snapshot: nothing of one compile reaches the next.
// What it does is tsc's own performCompilation: the same option parsing, program, diagnostics
// (reported as tsc reports them to a pipe) and exit status; only the lib files come ready-made.
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');

const [typescriptJs, ...tscArgs] = process.argv.slice(2);
const mod = { exports: {} };
// User-land modules cannot be require()d while a snapshot is built: evaluate TypeScript's one file as
// CommonJS would (it needs only built-in modules).
const load = (0, eval)('(function (module, exports, require, __filename, __dirname) {'
  + fs.readFileSync(typescriptJs, 'utf8') + '\n})');
load(mod, mod.exports, require, typescriptJs, path.dirname(typescriptJs));
const ts = mod.exports;

// Lib files by path, each for the language version it was parsed for.
const libs = new Map();

function compilerHost(options, keep) {
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile;
  const libDir = path.dirname(ts.getDefaultLibFilePath(options));
  host.getSourceFile = (name, version, onError, fresh) => {
    const isLib = path.dirname(name) === libDir;
    const ready = isLib ? libs.get(name) : undefined;
    if (ready && ready.languageVersion === (version.languageVersion ?? version)) return ready;
    const file = read(name, version, onError, fresh);
    if (keep && isLib && file) libs.set(name, file);
    return file;
  };
  return host;
}

// Warm up with the compile's own options: a one-line program makes tsc read and bind every default lib.
{
  const { options } = ts.parseCommandLine([...tscArgs, '/nonexistent/sandcheck-warm-up.ts']);
  const host = compilerHost(options, true);
  const realGet = host.getSourceFile;
  host.getSourceFile = (name, version, onError, fresh) => name === '/nonexistent/sandcheck-warm-up.ts'
    ? ts.createSourceFile(name, 'export {};\n', version) : realGet(name, version, onError, fresh);
  host.fileExists = ((exists) => (name) => name === '/nonexistent/sandcheck-warm-up.ts' || exists(name))(host.fileExists);
  const program = ts.createProgram(['/nonexistent/sandcheck-warm-up.ts'], options, host);
  program.getGlobalDiagnostics();
  program.getSemanticDiagnostics();
  if (libs.size === 0) throw new Error('the warm-up read no lib files');
}

v8.startupSnapshot.setDeserializeMainFunction(() => {
  const cmd = ts.parseCommandLine(process.argv.slice(1));
  const report = ts.createDiagnosticReporter(ts.sys, false);
  if (cmd.errors.length) {
    cmd.errors.forEach(report);
    process.exitCode = ts.ExitStatus.DiagnosticsPresent_OutputsSkipped;
    return;
  }
  const program = ts.createProgram({ rootNames: cmd.fileNames, options: cmd.options,
                                     host: compilerHost(cmd.options, false) });
  process.exitCode = ts.emitFilesAndReportErrorsAndGetExitStatus(
    program, report, (s) => ts.sys.write(s + ts.sys.newLine), undefined);
});
