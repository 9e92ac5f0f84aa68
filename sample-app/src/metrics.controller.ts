import type { IncomingMessage, ServerResponse } from 'node:http';
import { Controller, Get, Req, Res } from '@nestjs/common';
import { prometheusExporter } from './metrics.js';

/** Prometheus scrape endpoint: leader_election_is_leader, leader_election_transitions_total, … */
@Controller()
export class MetricsController {
  @Get('metrics')
  scrape(@Req() request: IncomingMessage, @Res() response: ServerResponse): void {
    prometheusExporter.getMetricsRequestHandler(request, response);
  }
}
