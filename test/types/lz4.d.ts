// The parts of the lz4 npm package (no types of its own) the tests use.
declare module "lz4" {
  const lz4: {
    encodeBound(length: number): number;
    encodeBlock(input: Uint8Array, output: Uint8Array): number;
    decodeBlock(input: Uint8Array, output: Uint8Array): number;
  };
  export default lz4;
}
