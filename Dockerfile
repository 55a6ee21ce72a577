# syntax=docker/dockerfile:1
# Build: a static binary (modernc.org/sqlite is pure Go, so CGO is off).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/treu ./cmd/treu \
 && mkdir -p /out/data

# Run: nothing but the binary, CA certificates and a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/treu /treu
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
ENV TREU_DATA=/data TREU_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["/treu"]
CMD ["serve"]
