# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/webhookd ./cmd/webhookd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/webhookd /usr/local/bin/webhookd
VOLUME /data
EXPOSE 8080 4222
ENTRYPOINT ["/usr/local/bin/webhookd"]
CMD ["serve", "--data-dir", "/data", "--http-addr", "0.0.0.0:8080", "--nats-listen", "0.0.0.0:4222"]
