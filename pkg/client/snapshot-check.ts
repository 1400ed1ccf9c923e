/**
 * The checksum of an etcd snapshot (pure): etcd's Maintenance.Snapshot sends the bolt
 * database and then its sha256, and `etcdctl snapshot restore` refuses a file whose last 32
 * bytes are not the sha256 of the rest. `ApiClient.backup` checks the same as the bytes
 * arrive, so a stream cut short or damaged never passes for a backup.
 */
import { createHash, type Hash } from 'node:crypto';
import { errors } from '../api/index.js';

const SHA256_BYTES = 32;

export class SnapshotChecksum {
  private readonly hash: Hash = createHash('sha256');
  /** The last 32 bytes seen: the checksum, once the stream is over. */
  private tail = Buffer.alloc(0);
  private total = 0;

  get bytes(): number {
    return this.total;
  }

  update(chunk: Uint8Array): void {
    this.total += chunk.length;
    const all = Buffer.concat([this.tail, chunk]);
    const cut = Math.max(0, all.length - SHA256_BYTES);
    if (cut > 0) this.hash.update(all.subarray(0, cut));
    this.tail = Buffer.from(all.subarray(cut));
  }

  /** Throws DataLoss unless the bytes seen are a database followed by its sha256. */
  verify(): void {
    const db = this.total - SHA256_BYTES;
    if (db <= 0 || db % 512 !== 0) {
      throw errors.dataLoss(`the snapshot is ${this.total} bytes: not an etcd database followed by its checksum (cut short?)`);
    }
    const digest = this.hash.digest();
    if (!digest.equals(this.tail)) throw errors.dataLoss('the snapshot does not match its sha256 checksum (damaged in transit?)');
  }
}
