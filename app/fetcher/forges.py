"""Which client fetches a repository: one per host, built from settings.

The public forges each have an API URL and token setting of their own;
every self-hosted GitLab (GITLAB_HOSTS) and Gitea or Forgejo instance
(GITEA_HOSTS) gets its own client with its own API base URL and token, so a
token is only ever sent to the instance it was configured for. A repository
on any other host is not fetched at all.
"""

import httpx

from app.config import Settings
from app.fetcher.bitbucket import BitbucketClient
from app.fetcher.forge import ForgeClient
from app.fetcher.gitea import GiteaClient
from app.fetcher.github import GitHubClient
from app.fetcher.gitlab import GitLabClient
from app.packages.repo_url import Forge, forge_hosts


def fetched_hosts(settings: Settings) -> dict[str, Forge]:
    """The forge on each host we fetch from, for `parse_repo_url`."""
    return forge_hosts(gitlab=settings.gitlab_hosts, gitea=settings.gitea_hosts)


def forge_clients(
    http_client: httpx.AsyncClient, settings: Settings
) -> dict[str, ForgeClient]:
    """The client for each host in `fetched_hosts`."""
    clients: dict[str, ForgeClient] = {
        "github.com": GitHubClient(http_client, settings),
        "gitlab.com": GitLabClient(
            http_client,
            settings,
            api_url=settings.gitlab_api_url,
            token=settings.gitlab_token,
        ),
        "bitbucket.org": BitbucketClient(
            http_client,
            settings,
            api_url=settings.bitbucket_api_url,
            token=settings.bitbucket_token,
        ),
        "codeberg.org": GiteaClient(
            http_client,
            settings,
            api_url=settings.codeberg_api_url,
            token=settings.codeberg_token,
        ),
    }
    for host, api_url in settings.gitlab_hosts.items():
        clients[host] = GitLabClient(
            http_client,
            settings,
            api_url=api_url,
            token=settings.gitlab_host_tokens.get(host),
        )
    for host, api_url in settings.gitea_hosts.items():
        clients[host] = GiteaClient(
            http_client,
            settings,
            api_url=api_url,
            token=settings.gitea_host_tokens.get(host),
        )
    return clients
