// asc transform: writes the `wasmtaps.tasks` manifest (docs/abi.md section 7).
//
// It finds every `task("name", ["param", ...], ...)` call in the user's sources and adds
// one MessagePack entry {"abi": 1, "name", "export": "wasmtaps_task_<name>", "params"}
// per task to a custom section. Use: asc ... --transform guest-sdk/assemblyscript/transform.mjs
import { Transform } from "assemblyscript/transform";

const TASK = /\btask\(\s*"([^"]+)"\s*,\s*\[([^\]]*)\]/g;

function str(s) {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([Buffer.from([0xd9, bytes.length]), bytes]);
}

export function manifestEntry(name, params) {
  return Buffer.concat([
    Buffer.from([0x84]), str("abi"), Buffer.from([0x01]),
    str("name"), str(name),
    str("export"), str(`wasmtaps_task_${name}`),
    str("params"), Buffer.from([0x90 | params.length]), ...params.map(str),
  ]);
}

export default class WasmtapsManifest extends Transform {
  afterCompile(module) {
    const entries = [];
    for (const source of this.program.sources) {
      if (source.internalPath.startsWith("~lib/")) continue;
      if (source.internalPath.endsWith("guest-sdk/assemblyscript/assembly/index")) continue;
      const code = source.text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
      for (const [, name, list] of code.matchAll(TASK)) {
        const params = [...list.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
        if (params.length > 15) throw new Error(`task ${name}: more than 15 parameters`);
        entries.push(manifestEntry(name, params));
      }
    }
    if (entries.length) module.addCustomSection("wasmtaps.tasks", Buffer.concat(entries));
  }
}
