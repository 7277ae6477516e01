// Whether a chosen file's first bytes are those of a photo format the server accepts (gourmetgram/names.py's
// IMAGE_FORMATS, identified by Pillow's plugins from the same signatures). Only a first check, so that a
// document renamed .jpg is refused before it is sent: the server still identifies and checks every upload.

export const HEAD_BYTES = 16;

// The ISO-BMFF major brands of the HEIC/HEIF images pillow-heif opens and the AVIF ones Pillow opens.
const BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs', 'mif1', 'msf1',
                        'avif', 'avis']);

const ascii = (bytes, start, end) => String.fromCharCode(...bytes.subarray(start, end));
const startsWith = (bytes, signature) => signature.every((b, i) => bytes[i] === b);

const SIGNATURES = [
  (b) => startsWith(b, [0xff, 0xd8, 0xff]),                                          // JPEG (and MPO)
  (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),            // PNG
  (b) => ['GIF87a', 'GIF89a'].includes(ascii(b, 0, 6)),                              // GIF
  (b) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP',                    // WebP
  (b) => ascii(b, 0, 2) === 'BM',                                                    // BMP
  (b) => ['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(b, 0, 4)),              // TIFF, BigTIFF
  (b) => ascii(b, 4, 8) === 'ftyp' && BRANDS.has(ascii(b, 8, 12)),                   // HEIC, HEIF, AVIF
];

// `head`: the file's first HEAD_BYTES bytes (fewer if it is shorter).
export function looksLikePhoto(head) {
  return SIGNATURES.some((matches) => matches(head));
}

export async function readHead(file) {
  return new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
}
