# StreamRec: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Ports of the test stack differ from the local-run stack, so `make test` can run beside `make run`.
TEST_STACK := STACK_RUN_DIR=.run/test REDIS_PORT=26379 PG_PORT=25432 KAFKA_PORT=29092
RUN_STACK := STACK_RUN_DIR=.run/stack

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install what is missing (apt packages, broker binary, librdkafka >= 2.2); idempotent
	@bash scripts/setup.sh

build: setup ## Release build of all services
	swift build -c release

run: setup ## Install, start the local stack, build and start the suite
	@bash scripts/run.sh

test: setup ## Run all tests against a freshly started local stack
	@$(TEST_STACK) bash scripts/test.sh

test-cluster: setup ## Only the Redis Cluster tests (each starts its own 3-master cluster; broker and PostgreSQL from the test stack)
	@$(TEST_STACK) bash scripts/test.sh --filter 'RedisClusterTests|FeatureClusterTests|StreamProcessorClusterTests'

bench: setup ## Foundation benchmarks (Kafka producer vs kcat, Redis vs redis-benchmark)
	@bash scripts/bench/foundation.sh

bench-gateway: setup ## Ingest gateway: req/s and latency beside /healthz, batch events/s
	@bash scripts/bench/gateway.sh

bench-processor: setup ## Stream processor: events/s from a pre-filled topic, Redis load beside redis-benchmark
	@bash scripts/bench/processor.sh

bench-restart: setup ## Stream processor: seconds from a kill -9 and restart to the first event applied, under a steady load
	@bash scripts/bench/restart.sh

bench-freshness: setup ## End-to-end freshness at a steady 10k events/s through the gateway
	@bash scripts/bench/freshness.sh

bench-inference: setup ## Inference API: req/s and latency of recommendations beside /healthz
	@bash scripts/bench/inference.sh

bench-recommender: setup ## Recommender core on MovieLens 100K (quality and fit time)
	@bash scripts/bench/recommender.sh

bench-quality: setup ## Recommendation quality through the HTTP API (nDCG@10 served vs evaluate vs popularity, RMSE)
	@bash scripts/bench/quality.sh

bench-scale: setup ## Cost curves at 1x and 10x MovieLens 100K (SCALE_SIZES="1 10 100"): training by stage, API load/p99/RSS, Redis bytes per user/item; run under the build lock
	@bash scripts/bench/scale.sh

soak: setup ## 10-minute soak of the whole pipeline: RSS, lag, latency, freshness (not in CI)
	@bash scripts/soak.sh

fault-run: setup ## The long fault run: 1M events through the gateway with kills, a rebalance, a Redis restart
	@bash scripts/fault-run.sh

stack-up: setup ## Start Redis, PostgreSQL and the broker for the local run (.run/stack)
	@$(RUN_STACK) bash scripts/stack.sh start

stack-down: ## Stop the local-run stack
	@$(RUN_STACK) bash scripts/stack.sh stop

test-stack-up: setup ## Start the test stack, for running `swift test` by hand
	@$(TEST_STACK) bash scripts/stack.sh start

test-stack-down: ## Stop the test stack
	@$(TEST_STACK) bash scripts/stack.sh stop

configs: ## Regenerate the commented configs/*.conf from the services' declared keys
	swift build
	@for s in ingest-gateway stream-processor trainer inference-api; do .build/debug/$$s --config-template > configs/$$s.conf; done

clean: ## Stop stacks and remove build output and run directories
	-@$(RUN_STACK) bash scripts/stack.sh clean
	-@$(TEST_STACK) bash scripts/stack.sh clean
	rm -rf .build .run

.PHONY: help setup build run test bench bench-gateway bench-processor bench-restart bench-freshness bench-inference bench-recommender bench-quality bench-scale soak fault-run configs stack-up stack-down test-stack-up test-stack-down clean
