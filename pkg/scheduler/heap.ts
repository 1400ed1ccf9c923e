/** A binary min-heap over a comparator; `updateTop` re-sifts the top after its key grew. */
export class MinHeap<T> {
  private readonly a: T[];

  constructor(
    items: T[],
    private readonly less: (x: T, y: T) => boolean,
  ) {
    this.a = items;
    for (let i = (this.a.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.a.length;
  }

  peek(): T | undefined {
    return this.a[0];
  }

  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      this.down(0);
    }
    return top;
  }

  /** Call after the top item's key increased. */
  updateTop(): void {
    this.down(0);
  }

  private down(i: number): void {
    const a = this.a;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      let m = l;
      if (r < n && this.less(a[r] as T, a[l] as T)) m = r;
      if (!this.less(a[m] as T, a[i] as T)) return;
      const t = a[i] as T;
      a[i] = a[m] as T;
      a[m] = t;
      i = m;
    }
  }
}
