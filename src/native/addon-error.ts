/** The addon could not be loaded (not built, not installed, or a library it needs is missing). */
export class AddonLoadError extends Error {}
