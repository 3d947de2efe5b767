// The few Node APIs the library uses, behind dynamic imports so that browser bundles never load them (the wasm
// loader in engine.ts, the vector file helpers in io/vectorFiles.ts). Declared here rather than pulling @types/node
// into a library that also targets browsers.
declare module 'node:fs/promises' {
  export function readFile(path: string | URL): Promise<Uint8Array<ArrayBuffer>>;
  export function writeFile(path: string | URL, data: Uint8Array): Promise<void>;
  export interface FileHandle {
    stat(): Promise<{ size: number }>;
    read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
    close(): Promise<void>;
  }
  export function open(path: string | URL, flags?: string): Promise<FileHandle>;
}
