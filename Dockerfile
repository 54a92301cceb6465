FROM python:3.12-slim
WORKDIR /srv
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .
RUN mkdir -p /data
VOLUME /data
ENV DATABASE_URL=sqlite+aiosqlite:////data/packages.db
EXPOSE 8000
CMD ["packages-api", "serve", "--host", "0.0.0.0", "--port", "8000"]
