using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Finetune.Hub;

namespace Finetune.Tests.Hub;

/// <summary>
/// A stand-in for huggingface.co on 127.0.0.1: the resolve URLs (HEAD and GET, with X-Repo-Commit, ETag,
/// X-Linked-Etag, X-Linked-Size, X-Error-Code), LFS files redirected to a "CDN" path that honours Range, the
/// /api/{type}s/{repo}/revision/{rev} listing, private and gated repositories, and switches that inject faults.
/// Every request is logged so tests can count them.
/// </summary>
internal sealed class FakeHub : IDisposable
{
    public sealed record FakeFile(byte[] Content, bool Lfs)
    {
        public string Sha256 => Convert.ToHexStringLower(SHA256.HashData(Content));

        /// <summary>git's blob id: sha1 of "blob {size}\0" followed by the content.</summary>
        public string GitSha1 => GitBlobSha1(Content);
    }

    public sealed class Repo
    {
        public required RepoType Type { get; init; }
        public required string Id { get; init; }
        public Dictionary<string, string> Refs { get; } = new();
        public Dictionary<string, Dictionary<string, FakeFile>> Commits { get; } = new();
        /// <summary>When set the repository is private: only this bearer token sees it.</summary>
        public string? PrivateToken { get; set; }
        /// <summary>When set the repository is gated: only this bearer token has accepted its conditions.</summary>
        public string? GatedToken { get; set; }
    }

    public sealed record Logged(string Method, string Path, string? Range, string? Authorization);

    private readonly HttpListener _listener;
    private readonly List<Repo> _repos = new();

    public FakeHub()
    {
        for (int attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener = new HttpListener();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5) { }
        }
        _ = Task.Run(AcceptLoop);
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<Logged> Requests { get; } = new();

    /// <summary>Answer the next N requests with 503 (tests the retry with backoff).</summary>
    public int FailNextWith503;

    /// <summary>The next LFS body breaks off (connection aborted) after this many bytes; once.</summary>
    public long BreakAfterBytes { set => Interlocked.Exchange(ref _breakAt, value); }

    private long _breakAt = -1;

    /// <summary>The next LFS body ends cleanly (chunked, no length) after this many bytes; once.</summary>
    public long EndEarlyAfterBytes { set => Interlocked.Exchange(ref _endAt, value); }

    private long _endAt = -1;

    /// <summary>Serve LFS bodies with one byte flipped (a corrupt transfer the sha256 check must catch).</summary>
    public volatile bool CorruptLfs;

    /// <summary>The next request is answered only after this many milliseconds (a server that times out); once.</summary>
    public int StallNextMs;

    /// <summary>Ignore Range headers and always send whole files, as some servers do.</summary>
    public volatile bool IgnoreRange;

    /// <summary>Answer a missing file with a bare 404 (no X-Error-Code, no X-Repo-Commit), as a plain file mirror does.</summary>
    public volatile bool PlainNotFound;

    /// <summary>Answer HEAD with 405 Method Not Allowed, as some mirrors do.</summary>
    public volatile bool RejectHead;

    /// <summary>Pause this long before sending an LFS body (makes two concurrent downloads overlap).</summary>
    public volatile int LfsDelayMs;

    /// <summary>Serve ETags in the weak form W/"..." (the client must normalise them).</summary>
    public volatile bool WeakEtags = true;

    /// <summary>Old model id → new id: resolve URLs of the old id answer 307 with a relative Location, like the Hub.</summary>
    public ConcurrentDictionary<string, string> Renamed { get; } = new();

    public Repo AddRepo(RepoType type, string id, string commit, IDictionary<string, FakeFile> files, string branch = "main")
    {
        var repo = new Repo { Type = type, Id = id };
        repo.Commits[commit] = new Dictionary<string, FakeFile>(files);
        repo.Refs[branch] = commit;
        lock (_repos) _repos.Add(repo);
        return repo;
    }

    public static FakeFile Git(string text) => new(Encoding.UTF8.GetBytes(text), Lfs: false);

    public static FakeFile Lfs(byte[] content) => new(content, Lfs: true);

    public int Count(string method, string? pathContains = null) =>
        Requests.Count(r => r.Method == method && (pathContains == null || r.Path.Contains(pathContains, StringComparison.Ordinal)));

    public void ClearLog() => Requests.Clear();

    public void Dispose()
    {
        // The managed listener may try to re-bind the port while closing, which fails when another test took it
        // meanwhile: the server is down either way.
        try { _listener.Close(); }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { }
    }

    private async Task AcceptLoop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(() =>
            {
                try { Handle(ctx); }
                catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
                {
                    try { ctx.Response.Abort(); } catch (ObjectDisposedException) { }
                }
            });
        }
    }

    private void Handle(HttpListenerContext ctx)
    {
        var req = ctx.Request;
        var res = ctx.Response;
        string raw = req.RawUrl ?? "/";
        string path = raw.Split('?')[0];
        Requests.Enqueue(new Logged(req.HttpMethod, path, req.Headers["Range"], req.Headers["Authorization"]));
        int stall = Interlocked.Exchange(ref StallNextMs, 0);
        if (stall > 0) Thread.Sleep(stall);
        int left;
        do left = Volatile.Read(ref FailNextWith503);
        while (left > 0 && Interlocked.CompareExchange(ref FailNextWith503, left - 1, left) != left);
        if (left > 0)
        {
            Finish(res, 503);
            return;
        }
        if (RejectHead && req.HttpMethod == "HEAD")
        {
            Finish(res, 405);
            return;
        }
        string[] seg = path.TrimStart('/').Split('/');
        if (seg.Length >= 2 && seg[0] == "cdn") { ServeBlob(req, res, seg[1]); return; }
        if (seg.Length >= 2 && seg[0] == "api") { ServeRevisionInfo(req, res, seg); return; }
        int resolve = Array.IndexOf(seg, "resolve");
        if (resolve > 0 && seg.Length > resolve + 2) { ServeResolve(req, res, seg, resolve); return; }
        Finish(res, 404);
    }

    private Repo? FindRepo(RepoType type, string id)
    {
        lock (_repos) return _repos.FirstOrDefault(r => r.Type == type && r.Id == id);
    }

    // Access rules of the real Hub: a private repository is invisible (401, RepoNotFound) without its token; a gated
    // one answers 401 GatedRepo without a token and 403 GatedRepo with a token that has not accepted the terms.
    private static bool Denied(Repo repo, HttpListenerRequest req, HttpListenerResponse res)
    {
        string? auth = req.Headers["Authorization"];
        string? token = auth != null && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth[7..] : null;
        if (repo.PrivateToken != null && token != repo.PrivateToken)
        {
            if (token == null) res.Headers["X-Error-Code"] = "RepoNotFound";
            else res.Headers["X-Error-Message"] = "Invalid credentials in Authorization header";
            Finish(res, 401);
            return true;
        }
        if (repo.GatedToken != null && token != repo.GatedToken)
        {
            res.Headers["X-Error-Code"] = "GatedRepo";
            Finish(res, token == null ? 401 : 403);
            return true;
        }
        return false;
    }

    private void ServeResolve(HttpListenerRequest req, HttpListenerResponse res, string[] seg, int resolve)
    {
        bool dataset = seg[0] == "datasets";
        var type = dataset ? RepoType.Dataset : RepoType.Model;
        string id = string.Join('/', seg[(dataset ? 1 : 0)..resolve]);
        string revision = Uri.UnescapeDataString(seg[resolve + 1]);
        string file = string.Join('/', seg[(resolve + 2)..].Select(Uri.UnescapeDataString));
        if (!dataset && Renamed.TryGetValue(id, out string? newId))
        {
            res.Headers["Location"] = "/" + newId + "/" + string.Join('/', seg[resolve..]);
            Finish(res, 307);
            return;
        }
        var repo = FindRepo(type, id);
        if (repo == null)
        {
            // Unauthenticated requests for a missing repository get 401 on the real Hub, as for a private one.
            res.Headers["X-Error-Code"] = "RepoNotFound";
            Finish(res, req.Headers["Authorization"] == null ? 401 : 404);
            return;
        }
        if (Denied(repo, req, res)) return;
        string? commit = repo.Refs.TryGetValue(revision, out var c) ? c : repo.Commits.ContainsKey(revision) ? revision : null;
        if (commit == null)
        {
            res.Headers["X-Error-Code"] = "RevisionNotFound";
            Finish(res, 404);
            return;
        }
        if (!repo.Commits[commit].TryGetValue(file, out var f) && PlainNotFound)
        {
            Finish(res, 404);
            return;
        }
        res.Headers["X-Repo-Commit"] = commit;
        if (f == null)
        {
            res.Headers["X-Error-Code"] = "EntryNotFound";
            Finish(res, 404);
            return;
        }
        if (f.Lfs)
        {
            res.Headers["X-Linked-Etag"] = $"\"{f.Sha256}\"";
            res.Headers["X-Linked-Size"] = f.Content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            res.Headers["ETag"] = Etag(GitBlobSha1(Encoding.ASCII.GetBytes($"version https://git-lfs.github.com/spec/v1\noid sha256:{f.Sha256}\nsize {f.Content.Length}\n")));
            res.Headers["Location"] = $"{Endpoint}/cdn/{f.Sha256}";
            Finish(res, 302);
            return;
        }
        res.Headers["ETag"] = Etag(f.GitSha1);
        res.StatusCode = 200;
        res.ContentLength64 = f.Content.Length;
        if (req.HttpMethod != "HEAD") res.OutputStream.Write(f.Content);
        res.Close();
    }

    private void ServeBlob(HttpListenerRequest req, HttpListenerResponse res, string sha)
    {
        FakeFile? f;
        lock (_repos)
            f = _repos.SelectMany(r => r.Commits.Values).SelectMany(c => c.Values).FirstOrDefault(x => x.Lfs && x.Sha256 == sha);
        if (f == null) { Finish(res, 404); return; }
        byte[] content = f.Content;
        if (CorruptLfs)
        {
            content = (byte[])content.Clone();
            content[content.Length / 2] ^= 0xFF;
        }
        long start = 0;
        string? range = req.Headers["Range"];
        if (!IgnoreRange && range != null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
            start = long.Parse(range[6..^1], System.Globalization.CultureInfo.InvariantCulture);
        if (start >= content.Length && content.Length > 0) { Finish(res, 416); return; }
        res.StatusCode = start > 0 ? 206 : 200;
        if (start > 0) res.Headers["Content-Range"] = $"bytes {start}-{content.Length - 1}/{content.Length}";
        res.ContentLength64 = content.Length - start;
        if (req.HttpMethod == "HEAD") { res.Close(); return; }
        if (LfsDelayMs > 0) Thread.Sleep(LfsDelayMs);
        long endAt = Interlocked.Exchange(ref _endAt, -1);
        if (endAt >= 0 && endAt < content.Length - start)
        {
            res.SendChunked = true;
            res.OutputStream.Write(content, (int)start, (int)endAt);
            res.Close();
            return;
        }
        long breakAt = Interlocked.Exchange(ref _breakAt, -1);
        if (breakAt >= 0 && breakAt < content.Length - start)
        {
            res.OutputStream.Write(content, (int)start, (int)breakAt);
            res.OutputStream.Flush();
            res.Abort(); // the connection drops mid-body
            return;
        }
        res.OutputStream.Write(content, (int)start, (int)(content.Length - start));
        res.Close();
    }

    // GET /api/{models|datasets}/{repo id}/revision/{revision}: the commit and the file list, as HfApi.repo_info reads.
    private void ServeRevisionInfo(HttpListenerRequest req, HttpListenerResponse res, string[] seg)
    {
        int at = Array.IndexOf(seg, "revision");
        if (at < 3 || at != seg.Length - 2) { Finish(res, 404); return; }
        var type = seg[1] == "datasets" ? RepoType.Dataset : RepoType.Model;
        var repo = FindRepo(type, string.Join('/', seg[2..at]));
        if (repo == null)
        {
            res.Headers["X-Error-Code"] = "RepoNotFound";
            Finish(res, 404);
            return;
        }
        if (Denied(repo, req, res)) return;
        string revision = Uri.UnescapeDataString(seg[at + 1]);
        string? commit = repo.Refs.TryGetValue(revision, out var c) ? c : repo.Commits.ContainsKey(revision) ? revision : null;
        if (commit == null)
        {
            res.Headers["X-Error-Code"] = "RevisionNotFound";
            Finish(res, 404);
            return;
        }
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            id = repo.Id,
            sha = commit,
            siblings = repo.Commits[commit].Keys.Order(StringComparer.Ordinal).Select(k => new { rfilename = k }).ToArray(),
        });
        res.ContentType = "application/json";
        res.ContentLength64 = body.Length;
        res.OutputStream.Write(body);
        res.Close();
    }

    private string Etag(string value) => WeakEtags ? $"W/\"{value}\"" : $"\"{value}\"";

    private static void Finish(HttpListenerResponse res, int status)
    {
        res.StatusCode = status;
        res.ContentLength64 = 0;
        res.Close();
    }

    public static string GitBlobSha1(byte[] content)
    {
        byte[] header = Encoding.ASCII.GetBytes($"blob {content.Length}\0");
        return Convert.ToHexStringLower(SHA1.HashData([.. header, .. content]));
    }
}
