/** What a run keeps of each pass's attention: `none`, tokens only; `mean`, head-averaged maps `[layers, T, T]`; `full`, `[layers, heads, T, T]`. */
export type MapsMode = 'none' | 'mean' | 'full';
export const MAPS_MODES: readonly MapsMode[] = ['none', 'mean', 'full'];
