// Loaded first (node --require) in every Node run jail. Programs read their input from
// "/dev/stdin" (AtCoder's and many models' idiom) and write to "/dev/stdout"; both are links
// into /proc, which no jail mounts (SECURITY.md). fs's calls that take a file descriptor in
// place of a path get fds 0, 1 and 2 for those names instead, which is what opening them does
// under /proc. Nothing else changes: every other path goes through untouched.
"use strict";
const fs = require("fs");
const STD = new Map([["/dev/stdin", 0], ["/dev/stdout", 1], ["/dev/stderr", 2],
                     ["/dev/fd/0", 0], ["/dev/fd/1", 1], ["/dev/fd/2", 2],
                     ["/proc/self/fd/0", 0], ["/proc/self/fd/1", 1], ["/proc/self/fd/2", 2]]);
const std = (path) => (typeof path === "string" && STD.has(path) ? STD.get(path) : path);

for (const name of ["readFileSync", "writeFileSync", "appendFileSync", "readFile", "writeFile", "appendFile"]) {
  const call = fs[name];
  fs[name] = { [name](path, ...rest) { return call.call(this, std(path), ...rest); } }[name];
}
for (const name of ["createReadStream", "createWriteStream"]) {
  const call = fs[name];
  fs[name] = { [name](path, options) {
    const fd = std(path);
    if (fd === path) return call.call(this, path, options);
    const given = typeof options === "string" ? { encoding: options } : options || {};
    return call.call(this, null, { ...given, fd, autoClose: false });
  } }[name];
}
