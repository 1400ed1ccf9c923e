/**
 * The controllers an agent may talk to (`--controller URL[,URL...]`; every controller of an HA
 * cluster serves the whole API over one store). One is current. A call that cannot reach it
 * (connection refused or reset, no answer within its deadline) makes the next one current; a
 * controller that answers, even with an error (503 while etcd has no quorum), stays current,
 * since another controller would answer the same.
 */
import { errors } from '../api/index.js';

export class ControllerEndpoints {
  readonly urls: readonly string[];
  private index = 0;

  constructor(urls: readonly string[]) {
    this.urls = urls.map((u) => u.replace(/\/+$/, ''));
    if (this.urls.length === 0) throw errors.invalidArgument('at least one controller URL is needed');
  }

  /** `URL[,URL...]` as `--controller` takes it. */
  static parse(text: string): ControllerEndpoints {
    return new ControllerEndpoints(text.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  }

  get current(): string {
    return this.urls[this.index] ?? (this.urls[0] as string);
  }

  /** `url` could not be reached: the next controller becomes current (unless another call moved on already). */
  unreachable(url: string): void {
    if (this.urls.length > 1 && url.replace(/\/+$/, '') === this.current) this.index = (this.index + 1) % this.urls.length;
  }

  toString(): string {
    return this.urls.join(',');
  }
}
