/**
 * Resolves in a later task of the event loop. Every batch waits for one after its run, so that
 * messages queued meanwhile (a cancel from the page, an interrupt) are handled before the caller
 * decides on the next batch: onnxruntime-web's wasm provider can finish a run without the event
 * loop ever getting a turn, and a loop of such runs would never see them. Not a timer: Node's
 * setTimeout(0) waits a millisecond or more and a browser's 4 ms once nested, which on a small
 * window in batches of 4 was most of the time spent outside the model. Node's setImmediate, or a
 * message to a channel of its own, comes after the events already queued (in the browsers'
 * practice for the channel: each port is a task source of its own) and no later.
 */
export function nextTask(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown })
    .setImmediate;
  if (immediate) return new Promise((resolve) => immediate(resolve));
  const channel = new MessageChannel();
  return new Promise((resolve) => {
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
