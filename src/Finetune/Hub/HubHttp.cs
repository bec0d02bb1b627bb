using System.Net;
using System.Net.Http.Headers;

namespace Finetune.Hub;

/// <summary>What a request was about, so an error can say which repository, revision and file it concerned.</summary>
internal sealed record RequestSubject(string RepoId, RepoType Type, string Revision, string? Filename);

/// <summary>
/// HTTP plumbing: bearer token only towards the Hub's own host, retries with exponential backoff on 429/5xx,
/// refused connections and timeouts, manual redirects, and the Hub's error headers turned into
/// <see cref="HubException"/>s (X-Error-Code tells a missing repository, revision and file apart).
/// </summary>
internal sealed class HubHttp : IDisposable
{
    private readonly HttpClient _http;
    private readonly HubSettings _s;

    // Once the Hub proved unreachable, later requests of this client fail at the first refusal instead of waiting
    // through the whole backoff again for every optional file (an answer of any kind clears it).
    private volatile bool _unreachable;

    public HubHttp(HubSettings settings, HttpMessageHandler? handler = null)
    {
        _s = settings;
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = settings.MetadataTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        }, disposeHandler: true)
        { Timeout = Timeout.InfiniteTimeSpan };
    }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// Sends a request and follows redirects: every one when <paramref name="followAbsolute"/>, else only relative
    /// ones (a renamed repository) so that a HEAD stops at the CDN redirect whose headers describe the file.
    /// </summary>
    public async Task<(HttpResponseMessage Response, string Url)> SendAsync(HttpMethod method, string url, bool followAbsolute,
        RequestSubject subject, long rangeFrom = 0, CancellationToken ct = default)
    {
        for (int hop = 0; hop < 10; hop++)
        {
            var response = await SendOnceWithRetriesAsync(method, url, subject, rangeFrom, ct).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            string? location = Header(response, "Location");
            if (status is >= 300 and <= 399 && location != null)
            {
                bool absolute = location.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
                    || location.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("//", StringComparison.Ordinal);
                if (!absolute || followAbsolute)
                {
                    url = new Uri(new Uri(url), location).ToString();
                    response.Dispose();
                    continue;
                }
            }
            return (response, url);
        }
        throw new HubException(ErrorKind.Network, HubErrorCode.Http, $"Too many redirects while fetching {Describe(subject)} from {url}.");
    }

    private async Task<HttpResponseMessage> SendOnceWithRetriesAsync(HttpMethod method, string url, RequestSubject subject, long rangeFrom, CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            int maxRetries = _unreachable ? 0 : _s.MaxRetries;
            using var request = new HttpRequestMessage(method, url);
            request.Headers.TryAddWithoutValidation("User-Agent", _s.UserAgent);
            // No compression: the Content-Length must be the file's true size.
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (_s.Token != null && SameHost(url, _s.Endpoint))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _s.Token);
            if (rangeFrom > 0) request.Headers.Range = new RangeHeaderValue(rangeFrom, null);

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_s.MetadataTimeout);
            Exception failure;
            try
            {
                var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                _unreachable = false;
                if (!IsRetryable(response.StatusCode) || attempt >= maxRetries) return response;
                response.Dispose();
                failure = new HttpRequestException($"HTTP {(int)response.StatusCode}");
            }
            catch (HttpRequestException e) { failure = e; }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested) { failure = new TimeoutException($"no answer within {_s.MetadataTimeout.TotalSeconds:0.#} s", e); }

            // A host name that does not resolve will not resolve a second later (no network, or a typo in HF_ENDPOINT).
            if (attempt >= maxRetries || failure is HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError })
            {
                _unreachable = true; // only refusals and timeouts get here: a 5xx answer is returned above
                throw new HubException(ErrorKind.Network, HubErrorCode.NoNetwork,
                    $"Cannot reach {_s.Endpoint} to fetch {Describe(subject)}: {failure.Message.TrimEnd('.')}.", inner: failure);
            }
            await Task.Delay(Backoff(attempt), ct).ConfigureAwait(false);
        }
    }

    public TimeSpan Backoff(int attempt)
    {
        double ms = _s.BaseBackoff.TotalMilliseconds * Math.Pow(2, attempt);
        return TimeSpan.FromMilliseconds(Math.Min(ms, _s.MaxBackoff.TotalMilliseconds));
    }

    private static bool IsRetryable(HttpStatusCode code) =>
        (int)code is 429 or 500 or 502 or 503 or 504;

    public static bool SameHost(string url, string endpoint) =>
        Uri.TryCreate(url, UriKind.Absolute, out var a) && Uri.TryCreate(endpoint, UriKind.Absolute, out var b)
        && string.Equals(a.Authority, b.Authority, StringComparison.OrdinalIgnoreCase);

    public static string? Header(HttpResponseMessage response, string name)
    {
        if (response.Headers.NonValidated.TryGetValues(name, out var values)) return values.ToString();
        if (response.Content.Headers.NonValidated.TryGetValues(name, out var cvalues)) return cvalues.ToString();
        return null;
    }

    public static long? LongHeader(HttpResponseMessage response, string name) =>
        long.TryParse(Header(response, name), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long v) ? v : null;

    /// <summary>Throws the <see cref="HubException"/> an unsuccessful answer stands for; returns on success.</summary>
    public void EnsureSuccess(HttpResponseMessage response, RequestSubject subject, string url)
    {
        int status = (int)response.StatusCode;
        if (status < 400) return;
        string? code = Header(response, "X-Error-Code");
        string? message = Header(response, "X-Error-Message");
        string repo = $"{subject.Type.Name()} repository '{subject.RepoId}'";
        string how = _s.Token == null
            ? "for a private or gated repository set HF_TOKEN or save a token in $HF_HOME/token"
            : "the token sent has no access to it";

        if (code == "RevisionNotFound")
            throw new HubException(ErrorKind.NotFound, HubErrorCode.RevisionNotFound,
                $"Revision '{subject.Revision}' does not exist in {repo} on {_s.Endpoint} (HTTP {status}).", status);
        if (code == "EntryNotFound")
            throw new HubException(ErrorKind.NotFound, HubErrorCode.EntryNotFound,
                $"File '{subject.Filename}' does not exist in {repo} at revision '{subject.Revision}' (HTTP {status}).", status)
            { RepoCommit = Header(response, "X-Repo-Commit") };
        if (code == "GatedRepo")
            throw new HubException(ErrorKind.Network, HubErrorCode.GatedRepo,
                $"{Capital(repo)} is gated (HTTP {status}): accept its conditions at {_s.Endpoint}/{subject.Type.UrlPrefix()}{subject.RepoId} and {how}.", status);
        if (message == "Access to this resource is disabled.")
            throw new HubException(ErrorKind.Network, HubErrorCode.Forbidden, $"Access to {repo} is disabled on {_s.Endpoint} (HTTP {status}).", status);
        if (status == 401 && message == "Invalid credentials in Authorization header")
            throw new HubException(ErrorKind.Network, HubErrorCode.Unauthorized,
                $"{_s.Endpoint} rejected the token sent for {repo} (HTTP 401: invalid credentials); check HF_TOKEN or $HF_HOME/token.", status);
        // The Hub answers 401 rather than 404 for a repository the caller may not see, so as not to reveal it exists.
        if (code == "RepoNotFound" || status == 401)
            throw new HubException(ErrorKind.NotFound, HubErrorCode.RepoNotFound,
                $"{Capital(repo)} was not found on {_s.Endpoint} (HTTP {status}); check the name and the repository type, and {how}.", status);
        if (status == 403)
            throw new HubException(ErrorKind.Network, HubErrorCode.Forbidden,
                $"Access to {Describe(subject)} is forbidden (HTTP 403{(message != null ? ": " + message : "")}); {how}.", status);
        throw new HubException(ErrorKind.Network, HubErrorCode.Http,
            $"{_s.Endpoint} answered HTTP {status}{(message != null ? " (" + message + ")" : "")} for {Describe(subject)} at {url}.", status);
    }

    public static string Describe(RequestSubject s) =>
        s.Filename != null
            ? $"'{s.Filename}' of {s.Type.Name()} '{s.RepoId}' at revision '{s.Revision}'"
            : $"{s.Type.Name()} '{s.RepoId}' at revision '{s.Revision}'";

    private static string Capital(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}
