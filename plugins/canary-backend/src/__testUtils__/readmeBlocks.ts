import fs from 'fs';

/** The text of every ```yaml block in a Markdown text, in order. */
export function yamlBlocks(markdown: string): string[] {
  return markdown
    .split('```yaml')
    .slice(1)
    .map(part => part.split('```')[0]);
}

/** The first yaml block of a README file that configures `canary:`. */
export function canaryConfigBlock(readmeFile: string): string {
  const block = yamlBlocks(fs.readFileSync(readmeFile, 'utf8')).find(part =>
    part.includes('canary:'),
  );
  if (!block) throw new Error(`${readmeFile} shows no canary: configuration`);
  return block;
}
