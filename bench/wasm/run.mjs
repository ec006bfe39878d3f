// Run a MicroPython script in the webassembly port of MicroPython (a 32-bit VM, as a board's),
// with a directory of .mpy files copied into its filesystem at /lib:
//   node run.mjs LIB_DIR SCRIPT CALLS_JSON
// The script runs first; then each of CALLS_JSON (a list of Python statements) as a call of
// its own: the port's GC frees memory only between calls, never during one.
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const [libDir, script, calls] = process.argv.slice(2);
const mp = await loadMicroPython({
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
});

function copy(src, dst) {
  try {
    mp.FS.mkdir(dst);
  } catch (e) {} // it exists
  for (const name of fs.readdirSync(src)) {
    const from = path.join(src, name);
    if (fs.statSync(from).isDirectory()) copy(from, dst + "/" + name);
    else mp.FS.writeFile(dst + "/" + name, fs.readFileSync(from));
  }
}

copy(libDir, "/lib");
try {
  mp.runPython("import sys\nsys.path.insert(0, '/lib')\n" + fs.readFileSync(script, "utf8"));
  for (const call of JSON.parse(calls)) mp.runPython(call);
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
