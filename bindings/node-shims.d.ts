// The one Node API the loader uses, behind a dynamic import so that browser bundles never load it. Declared here
// rather than pulling @types/node into a library that also targets browsers.
declare module 'node:fs/promises' {
  export function readFile(path: string | URL): Promise<Uint8Array<ArrayBuffer>>;
}
