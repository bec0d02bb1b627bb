using System.Buffers;
using System.Net;
using System.Security.Cryptography;

namespace Finetune.Hub;

public sealed partial class HubClient
{
    /// <summary>
    /// Streams a file into blobs/{etag}.incomplete, resuming with a Range request after a broken connection (an
    /// .incomplete left by an earlier run is resumed too), checks its size and, for an LFS file whose etag is a
    /// sha256, its content hash, then renames it to blobs/{etag}. The caller holds the file's lock.
    /// </summary>
    private async Task DownloadBlobAsync(HubFileMetadata meta, string blob, RequestSubject subject, CancellationToken ct)
    {
        string incomplete = blob + ".incomplete";
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        int retriesLeft = Settings.MaxRetries;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            // Not FileMode.Append: a server that ignores Range makes us truncate, which Append forbids.
            using (var file = new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read, 1 << 16))
            {
                long position = file.Seek(0, SeekOrigin.End);
                if (position > meta.Size) { file.SetLength(0); position = 0; } // not the file announced: start over
                Report(subject, position, meta.Size, done: false);
                while (position < meta.Size || meta.Size == 0)
                {
                    try
                    {
                        var (response, url) = await _http.SendAsync(HttpMethod.Get, meta.Location, followAbsolute: true, subject, position, ct).ConfigureAwait(false);
                        using (response)
                        {
                            _http.EnsureSuccess(response, subject, url);
                            if (position > 0 && response.StatusCode != HttpStatusCode.PartialContent)
                            {
                                // The server ignored the Range request and sends the whole file: start over.
                                file.SetLength(0);
                                position = 0;
                            }
                            using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                            while (true)
                            {
                                using var silence = CancellationTokenSource.CreateLinkedTokenSource(ct);
                                silence.CancelAfter(Settings.DownloadTimeout);
                                int n = await body.ReadAsync(buffer.AsMemory(), silence.Token).ConfigureAwait(false);
                                if (n == 0) break;
                                try
                                {
                                    file.Write(buffer, 0, n);
                                }
                                catch (IOException e)
                                {
                                    // The disk, not the network (a full disk must not be retried as a broken transfer).
                                    throw new FinetuneException(ErrorKind.Io, $"Could not write '{incomplete}': {e.Message}", e);
                                }
                                position += n;
                                retriesLeft = Settings.MaxRetries; // progress was made: a later break gets fresh retries
                                Report(subject, position, meta.Size, done: false);
                            }
                        }
                        if (position >= meta.Size) break;
                        // A body that ended cleanly but early is resumed like a broken one.
                        throw new IOException($"the server closed the connection after byte {position}");
                    }
                    catch (Exception e) when (IsBrokenTransfer(e, ct) && retriesLeft > 0)
                    {
                        // Broken connection or silence: keep what arrived and ask for the rest.
                        retriesLeft--;
                        file.Flush();
                        await Task.Delay(_http.Backoff(Settings.MaxRetries - retriesLeft - 1), ct).ConfigureAwait(false);
                    }
                    catch (Exception e) when (IsBrokenTransfer(e, ct))
                    {
                        throw new HubException(ErrorKind.Network, HubErrorCode.NoNetwork,
                            $"The download of {HubHttp.Describe(subject)} broke off at byte {position} of {meta.Size} and did not resume: {e.Message}", inner: e);
                    }
                }
                file.Flush(flushToDisk: true);
                if (position != meta.Size)
                {
                    file.Dispose();
                    CacheLayout.TryDelete(incomplete);
                    throw new HubException(ErrorKind.Network, HubErrorCode.ChecksumMismatch,
                        $"The download of {HubHttp.Describe(subject)} has {position} bytes but the Hub announced {meta.Size}; the partial file was discarded.");
                }
            }
            if (CacheLayout.IsSha256(meta.Etag))
            {
                string actual = Sha256Hex(incomplete);
                if (actual != meta.Etag)
                {
                    CacheLayout.TryDelete(incomplete);
                    throw new HubException(ErrorKind.Network, HubErrorCode.ChecksumMismatch,
                        $"The download of {HubHttp.Describe(subject)} is corrupt: its sha256 is {actual} but the Hub announced {meta.Etag}; the file was discarded.");
                }
            }
            File.Move(incomplete, blob, overwrite: true);
            Report(subject, meta.Size, meta.Size, done: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool IsBrokenTransfer(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && (e is IOException or HttpRequestException or OperationCanceledException
            || e is HubException { Code: HubErrorCode.NoNetwork });

    private void Report(RequestSubject s, long bytes, long total, bool done) =>
        Progress?.Invoke(new HubProgress(s.RepoId, s.Filename ?? "", bytes, total, done));

    internal static string Sha256Hex(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
