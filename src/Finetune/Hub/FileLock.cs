namespace Finetune.Hub;

/// <summary>
/// An exclusive lock on a file shared between processes. .NET opens a file with FileShare.None using flock(2) on
/// Unix, the same advisory lock Python's filelock takes, so Finetune and huggingface_hub also exclude each other.
/// </summary>
internal sealed class FileLock : IDisposable
{
    private readonly FileStream _stream;

    private FileLock(FileStream stream) => _stream = stream;

    public static FileLock Acquire(string path, TimeSpan timeout, CancellationToken ct = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var deadline = DateTime.UtcNow + timeout;
        int wait = 10;
        while (true)
        {
            try
            {
                return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline && !IsPermissionProblem(path))
            {
                // Held by another process (or thread): wait and try again.
            }
            catch (IOException e)
            {
                throw new FinetuneException(ErrorKind.Io, $"Could not take the download lock '{path}' within {timeout.TotalSeconds:0} s: {e.Message}", e);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new FinetuneException(ErrorKind.Io, $"Could not create the download lock '{path}': the cache folder is not writable.", e);
            }
            ct.ThrowIfCancellationRequested();
            Thread.Sleep(wait);
            wait = Math.Min(wait * 2, 200);
        }
    }

    private static bool IsPermissionProblem(string path) =>
        !Directory.Exists(Path.GetDirectoryName(path));

    public void Dispose() => _stream.Dispose();
}
