// What the page's wasm consists of: its code section's function bodies summed by the crate that
// defines them (from the function names), grouped as the README reports them.
//
//   cargo rustc --profile wasm-release --lib --crate-type cdylib --target wasm32-unknown-unknown -- -C strip=none
//   node scripts/wasm-sizes.mjs target/wasm32-unknown-unknown/wasm-release/playground.wasm
//
// (The shipped build strips the names; `-C strip=none` relinks this crate alone, keeping them.)
import { readFileSync } from 'node:fs';

const bytes = readFileSync(process.argv[2] ?? 'target/wasm32-unknown-unknown/wasm-release/playground.wasm');
let pos = 8;
const leb = () => {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return result;
  }
};
const skip = (n) => (pos += n);
const name = () => {
  const n = leb();
  const s = bytes.subarray(pos, pos + n).toString('utf8');
  skip(n);
  return s;
};

let imported = 0;
const bodies = [];
const names = new Map();
let dataBytes = 0;
while (pos < bytes.length) {
  const id = bytes[pos++];
  const size = leb();
  const end = pos + size;
  if (id === 2) {
    for (let n = leb(); n > 0; n--) {
      name();
      name();
      const kind = bytes[pos++];
      if (kind === 0) (leb(), imported++);
      else if (kind === 1) (skip(1), leb() & 1 ? (leb(), leb()) : leb());
      else if (kind === 2) leb() & 1 ? (leb(), leb()) : leb();
      else if (kind === 3) skip(2);
    }
  } else if (id === 10) {
    for (let n = leb(); n > 0; n--) {
      const len = leb();
      bodies.push(len);
      skip(len);
    }
  } else if (id === 11) dataBytes += size;
  else if (id === 0 && name() === 'name') {
    while (pos < end) {
      const sub = bytes[pos++];
      const subEnd = leb() + pos;
      if (sub === 1) for (let n = leb(); n > 0; n--) names.set(leb(), name());
      pos = subEnd;
    }
  }
  pos = end;
}
if (!names.size) throw new Error('no function names: relink with -C strip=none (see the top of this file)');

const SCALARS = new Set(['core', 'alloc', 'std', 'f32', 'f64', 'u8', 'u32', 'u64', 'usize', 'i32', 'i64', 'bool', 'str']);
/** The crate of a (legacy-mangled) function: its path's first segment, or for an impl the
 *  implementing type's crate (the trait's where the type is generic or a primitive). */
function crate(mangled) {
  const m = /^_ZN(\d+)/.exec(mangled);
  if (!m) return /^([A-Za-z0-9_]+)::/.exec(mangled)?.[1] ?? mangled.split('.')[0];
  const rest = mangled.slice(m[0].length);
  if (!rest.startsWith('_$LT$')) return rest.slice(0, Number(m[1]));
  const body = rest.slice(5);
  const self = /^(?:\$RF\$|mut\$u20\$|\$u5b\$|\$LP\$)*([A-Za-z0-9_]+)/.exec(body)?.[1] ?? '?';
  const trait = /\$u20\$as\$u20\$([A-Za-z0-9_]+)\.\./.exec(body)?.[1];
  return (self.length <= 2 || SCALARS.has(self)) && trait ? trait : self;
}

const GROUPS = [
  ['the WebGPU backend: cubecl (kernel compiler, IR, optimiser), cubek (kernels), wgpu', /^(cubecl|cubek|pliron|combine|rustc_apfloat|burn_cubecl|burn_wgpu|wgpu|awint|triple_arena|inventory|internment|enumset|hi_sparse|float8|float4)/],
  ['the CPU backend: burn-flex, gemm', /^(burn_flex|gemm|pulp|macerator|dyn_stack|seq_macro)/],
  ["burn's tensor, autodiff, dispatch, nn, optim", /^burn/],
  ['Rust core, alloc, std, hashbrown (generic code instantiated by all)', /^(core|alloc|std|hashbrown)$/],
  ['regex', /^(regex|aho)/],
  ['this crate', /^playground$/],
];
const byCrate = new Map();
bodies.forEach((len, i) => {
  const c = crate(names.get(imported + i) ?? '?');
  byCrate.set(c, (byCrate.get(c) ?? 0) + len);
});
const code = bodies.reduce((a, b) => a + b, 0);
const byGroup = new Map();
for (const [c, len] of byCrate) {
  const group = GROUPS.find(([, re]) => re.test(c))?.[0] ?? 'other';
  byGroup.set(group, (byGroup.get(group) ?? 0) + len);
}
const mb = (n) => (n / 1e6).toFixed(2).padStart(6);
console.log(`code ${mb(code)} MB in ${bodies.length} functions; data ${mb(dataBytes)} MB`);
for (const [g, len] of [...byGroup].sort((a, b) => b[1] - a[1])) console.log(`${mb(len)} MB ${((100 * len) / code).toFixed(1).padStart(5)}%  ${g}`);
console.log('largest crates:');
for (const [c, len] of [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${mb(len)} MB  ${c}`);
