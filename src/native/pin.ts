import { markAsUntransferable } from "node:worker_threads";

/**
 * Native work reads and writes a buffer's memory on a worker thread. The
 * addon keeps the buffer object alive, but if its ArrayBuffer were transferred
 * (postMessage, structuredClone) the memory would move under the worker. Every
 * buffer handed to native work is therefore marked untransferable first: a
 * transfer then throws instead of freeing memory in use.
 */
export function pin<T extends ArrayBufferView>(view: T): T {
  markAsUntransferable(view.buffer);
  return view;
}
