# The permitflow image used by docker-compose.yml: every process is `permitflow <command>`.
FROM node:20.20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY lib ./lib
COPY topology ./topology
COPY schemas ./schemas
COPY processors ./processors
COPY connectors ./connectors
COPY ops ./ops
USER node
ENTRYPOINT ["node", "bin/permitflow.js"]
