/**
 * Keys to key groups. A key's group is a stable hash of the key's text masked
 * to the partition's (power-of-two) key-group count, so every worker and
 * thread computes the same group for a key, in any process, forever: key
 * groups, not keys, are what the routing table places and later moves.
 * Fixed-key partitions give each declared key its own group instead.
 */
import { ErrorCode, RooError } from '../../protocols/index.js';

/**
 * 32-bit FNV-1a over the key's UTF-16 code units, finished with murmur3's
 * fmix32 so that nearby keys spread over the low bits we mask with.
 */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Maps a key to its key group within one partition. */
export interface KeyGrouper {
  /** Number of key groups. */
  readonly groups: number;
  /** The key group of `key`; throws ROO_ERR_UNKNOWN_KEY for an undeclared fixed key. */
  groupOf(key: string): number;
}

/** Key grouper of a dynamic partition with `groups` (a power of two) key groups. */
export function dynamicGrouper(groups: number): KeyGrouper {
  const mask = groups - 1;
  return { groups, groupOf: (key) => hashKey(key) & mask };
}

/** Key grouper of a fixed-key partition: each declared key is its own group. */
export function fixedGrouper(partition: string, keys: readonly string[]): KeyGrouper {
  const index = new Map<string, number>();
  keys.forEach((k, i) => index.set(k, i));
  return {
    groups: keys.length,
    groupOf: (key) => {
      const g = index.get(key);
      if (g === undefined) {
        throw new RooError(
          ErrorCode.UnknownKey,
          `key '${key}' is not declared by state partition '${partition}'`,
          {
            partition,
            key,
          },
        );
      }
      return g;
    },
  };
}
