/**
 * Pushes a service's view (what its `get…` operation answers) whenever it
 * differs from the view pushed last, so a face can follow it without polling
 * and without being told of changes that change nothing. Reads run one at a
 * time, in order: the view pushed last is always the newest.
 */
export class ViewFeed<T> {
  private last = '';
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly read: () => Promise<T> | T,
    private readonly push: (view: T) => void,
    /** A view that cannot be read now is not pushed; the caller says where that is noted. */
    private readonly failed: (error: unknown) => void,
  ) {}

  /** Reads the view now and pushes it if it changed; never rejects. */
  refresh(): Promise<void> {
    const run = this.queue.then(async () => {
      try {
        const view = await this.read();
        const key = JSON.stringify(view);
        if (key === this.last) return;
        this.last = key;
        this.push(view);
      } catch (error) {
        this.failed(error);
      }
    });
    this.queue = run;
    return run;
  }
}
