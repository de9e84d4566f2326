import type { OperationInput, OperationOutput } from '../shared/contract';
import type { NodeConfig } from './config';
import type { Logger, SourceLogger } from './logger';

export interface LogSettingsLinks {
  config: { update(change: (draft: NodeConfig) => void): Promise<NodeConfig> };
  logger: Pick<Logger, 'tail' | 'minLevel' | 'setLevel'>;
  log: SourceLogger;
}

/** The log as the contract shows it: the recent entries, and the level, saved so it holds after a restart. */
export class LogSettings {
  constructor(private readonly links: LogSettingsLinks) {}

  get(input: OperationInput<'getLogs'>): OperationOutput<'getLogs'> {
    const { logger } = this.links;
    return { entries: logger.tail(input.limit ?? 200, input.minLevel ?? 'debug'), level: logger.minLevel };
  }

  async setLevel({ level }: OperationInput<'setLogLevel'>): Promise<OperationOutput<'setLogLevel'>> {
    await this.links.config.update((draft) => {
      draft.logLevel = level;
    });
    this.links.logger.setLevel(level);
    this.links.log.info(`Log level set to ${level}.`);
    return { level };
  }
}
