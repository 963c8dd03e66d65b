# The permitflow image used by docker-compose.yml: every process is `permitflow <command>`.
FROM node:24.22.3-bookworm-slim
WORKDIR /app
# The extraction stage's OCR tools (connectors/pdf/ocr.ts), from Debian as on the local stack.
RUN apt-get update && apt-get install -y --no-install-recommends poppler-utils imagemagick tesseract-ocr tesseract-ocr-eng && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# Scripts stay off except the Kafka client's (KAFKA_CLIENT=confluent): it fetches its prebuilt librdkafka binding.
RUN npm ci --omit=dev --ignore-scripts && npm rebuild @confluentinc/kafka-javascript && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY lib ./lib
COPY domain ./domain
COPY topology ./topology
COPY schemas ./schemas
COPY processors ./processors
COPY connectors ./connectors
COPY ops ./ops
COPY rules ./rules
# The fee schedule LOOKUPS_FEE_SCHEDULE_PATH names by default (mount your jurisdiction's over it).
COPY test/fixtures/lookups/fee-schedule.yaml ./test/fixtures/lookups/fee-schedule.yaml
# Young generation capped as deploy/systemd/permitflow@.service does (why: there); overridable.
ENV NODE_OPTIONS=--max-semi-space-size=16
USER node
ENTRYPOINT ["node", "bin/permitflow.js"]
