/** The step's outputs and its job summary. */
import * as core from '@actions/core'
import type { ImageNames } from './naming.js'

export interface PublishResult {
  names: ImageNames
  imageId: string
  /** '' when nothing was pushed. */
  digest: string
  builder: string
}

export function setOutputs(result: PublishResult): void {
  const { names, digest, imageId } = result
  core.setOutput('digest', digest)
  core.setOutput('image', names.image)
  core.setOutput('tags', names.references.join('\n'))
  core.setOutput('image-ref', digest ? `${names.image}@${digest}` : '')
  core.setOutput('imageid', imageId)
}

export async function writeSummary(result: PublishResult): Promise<void> {
  const { names, digest, imageId } = result
  // Always set on a runner; not when run locally (e.g. with @github/local-action).
  if (!process.env.GITHUB_STEP_SUMMARY) {
    core.info('GITHUB_STEP_SUMMARY is not set: no job summary written.')
    return
  }
  const code = (s: string): string => `<code>${escapeHtml(s)}</code>`
  const summary = core.summary
    .addHeading(digest ? `Published ${names.image}` : `Built ${names.image} (not pushed)`, 3)
    .addTable([
      [
        { data: 'Field', header: true },
        { data: 'Value', header: true }
      ],
      ['Image', code(names.image)],
      ['Tags', names.tags.map(code).join(' ')],
      ['Digest', digest ? code(digest) : 'not pushed (<code>push: false</code>)'],
      ['Image ID', code(imageId)],
      ['Registry', `${code(names.registry)} (${names.registryType} naming)`],
      ['Builder', escapeHtml(result.builder)]
    ])
  if (digest) {
    summary
      .addRaw('Pull exactly this image:', true)
      .addCodeBlock(`docker pull ${names.image}@${digest}`, 'shell')
  }
  await summary.write()
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
