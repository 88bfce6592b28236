// The part of jstat (no published types) that the paired test uses.
declare module 'jstat' {
  export const jStat: { readonly studentt: { inv(p: number, dof: number): number } };
}
