/**
 * The name every push work folder (compressed layers, under RUNNER_TEMP) starts with. The main step
 * makes the folder (publish/upload.ts); the post step removes only a folder whose name starts so.
 */
export const WORK_FOLDER_PREFIX = 'publish-container-save-'
