/**
 * JSON as ZeroTier One 1.14 writes it (nlohmann::json): object keys sorted (its objects are std::maps),
 * compact `dump()` for the local API, `dump(4)` for local.conf. One difference from JSON.stringify matters:
 * 64-bit integers. 1.14 prints a planet's id (`planetWorldId`) and other uint64 values as exact decimal
 * numbers, which a JS number cannot hold above 2^53; here a `bigint` is written as its exact decimal digits,
 * a JSON number that zerotier-cli reads back into its uint64.
 */

/** JSON values this module writes: plain data, with bigints for 64-bit integers. */
export type JsonOut = null | boolean | number | bigint | string | JsonOut[] | { [key: string]: JsonOut | undefined };

/**
 * Serialises `value` with object keys in sorted order (by UTF-16 code unit, which equals std::string's byte
 * order for the ASCII keys 1.14 uses). `undefined` members are left out, as JSON.stringify does.
 * @param indent spaces per level (0: compact, as the API answers; 4: as 1.14 writes local.conf)
 * @throws {TypeError} on a non-finite number (NaN or Infinity have no JSON form) or a value of another type
 */
export function sortedJson(value: JsonOut, indent = 0): string {
  return write(value, indent, '');
}

function write(v: JsonOut | undefined, indent: number, pad: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`JSON cannot hold the number ${v}`);
      return JSON.stringify(v);
    case 'bigint':
      return v.toString(10);
    case 'string':
      return JSON.stringify(v);
    case 'object': {
      const inner = indent > 0 ? pad + ' '.repeat(indent) : '';
      const nl = indent > 0 ? '\n' : '';
      const sep = indent > 0 ? ': ' : ':';
      if (Array.isArray(v)) {
        if (v.length === 0) return '[]';
        return `[${nl}${v.map((x) => inner + write(x, indent, inner)).join(`,${nl}`)}${nl}${pad}]`;
      }
      const keys = Object.keys(v)
        .filter((k) => v[k] !== undefined)
        .sort();
      if (keys.length === 0) return '{}';
      return `{${nl}${keys.map((k) => `${inner}${JSON.stringify(k)}${sep}${write(v[k], indent, inner)}`).join(`,${nl}`)}${nl}${pad}}`;
    }
    default:
      throw new TypeError(`JSON cannot hold a value of type ${typeof v}`);
  }
}
