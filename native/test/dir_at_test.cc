// Tests of the directory operations (dir_at.h): nothing is ever followed
// through a symlink, whatever is swapped in where.
#include "dir_at.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "check.h"
#include "error.h"

using namespace blockferry;

namespace {

// A scratch directory with an "outside" beside a "root"; removed (by the code under test) at the
// end.
struct Scratch {
  std::string path;
  Scratch() {
    const char* dir = std::getenv("TMPDIR");
    path = std::string(dir ? dir : "/tmp") + "/bf-dir-XXXXXX";
    if (mkdtemp(&path[0]) == nullptr) std::abort();
    mkdir(At("root").c_str(), 0755);
    mkdir(At("outside").c_str(), 0755);
  }
  ~Scratch() {
    size_t slash = path.rfind('/');
    int parent = open(path.substr(0, slash).c_str(), O_RDONLY | O_DIRECTORY);
    RemoveTreeAt(parent, path.substr(slash + 1));
    close(parent);
  }
  std::string At(const std::string& rel) const { return path + "/" + rel; }
  bool Exists(const std::string& rel) const {
    struct stat st;
    return lstat(At(rel).c_str(), &st) == 0;
  }
  int Entries(const std::string& rel) const {
    int fd = open(At(rel).c_str(), O_RDONLY | O_DIRECTORY);
    int n = 0;
    if (fd >= 0) {
      DIR* d = fdopendir(fd);
      while (struct dirent* e = readdir(d)) n += e->d_name[0] != '.';
      closedir(d);
    }
    return n;
  }
};

template <typename Fn>
int ErrnoOf(Fn fn) {
  try {
    fn();
  } catch (const IoError& e) {
    return e.err();
  }
  return 0;
}

}  // namespace

TEST_CASE(open_dir_path_refuses_a_symlink_at_any_component) {
  Scratch s;
  mkdir(s.At("root/real").c_str(), 0755);
  symlink(s.At("outside").c_str(), s.At("root/link").c_str());
  int fd = OpenDirPath(s.At("root/real"));
  CHECK(fd >= 0);
  close(fd);
  fd = OpenDirPath(s.At("root//real/"));
  CHECK(fd >= 0);
  close(fd);
  for (const std::string& path : {s.At("root/link"), s.At("root/link/x")}) {
    bool refused = false;
    try {
      close(OpenDirPath(path));
    } catch (const IoError& e) {
      refused = e.err() == ELOOP && e.offset() == static_cast<int64_t>(s.At("root/link").size());
    }
    CHECK(refused);
  }
  CHECK_THROWS_KIND(OpenDirPath(s.At("root/../root")), ErrorKind::kInvalid);
  CHECK_THROWS_KIND(OpenDirPath("relative"), ErrorKind::kInvalid);
  fd = OpenDirPath("/");
  CHECK(fd >= 0);
  close(fd);
}

TEST_CASE(names_must_be_one_component) {
  Scratch s;
  int root = OpenDirPath(s.At("root"));
  for (const char* bad : {"", ".", "..", "a/b", "../outside"}) {
    CHECK_THROWS_KIND(MakeDirAt(root, bad, 0700), ErrorKind::kInvalid);
    CHECK_THROWS_KIND(CreateFileAt(root, bad, 0600), ErrorKind::kInvalid);
    CHECK_THROWS_KIND(RemoveTreeAt(root, bad), ErrorKind::kInvalid);
  }
  close(root);
  CHECK(s.Entries("outside") == 0);
}

TEST_CASE(creation_never_follows_the_name) {
  Scratch s;
  int root = OpenDirPath(s.At("root"));
  symlink(s.At("outside").c_str(), s.At("root/l").c_str());
  symlink(s.At("outside/f").c_str(), s.At("root/lf").c_str());
  CHECK(ErrnoOf([&] { close(MakeDirAt(root, "l", 0700)); }) == EEXIST);
  CHECK(ErrnoOf([&] { close(CreateFileAt(root, "lf", 0600)); }) == EEXIST);
  CHECK(ErrnoOf([&] { close(OpenDirAt(root, "l")); }) == ELOOP);
  CHECK(ErrnoOf([&] { SymlinkAt(root, "l", "x"); }) == EEXIST);
  CHECK(KindAt(root, "l") == EntryKind::kSymlink);
  CHECK(KindAt(root, "none") == EntryKind::kNone);
  close(root);
  CHECK(s.Entries("outside") == 0);
}

TEST_CASE(a_held_directory_stays_itself_when_its_path_becomes_a_symlink) {
  Scratch s;
  int root = OpenDirPath(s.At("root"));
  int sub = MakeDirAt(root, "sub", 0700);
  rename(s.At("root/sub").c_str(), s.At("root/moved").c_str());
  symlink(s.At("outside").c_str(), s.At("root/sub").c_str());
  close(CreateFileAt(sub, "f", 0600));
  int d = MakeDirAt(sub, "d", 0700);
  CHECK(s.Exists("root/moved/f"));
  CHECK(s.Exists("root/moved/d"));
  CHECK(s.Entries("outside") == 0);
  // A directory removed while held, a symlink in its place: nothing can be created in it, anywhere.
  rmdir(s.At("root/moved/d").c_str());
  symlink(s.At("outside").c_str(), s.At("root/moved/d").c_str());
  CHECK(ErrnoOf([&] { close(CreateFileAt(d, "x", 0600)); }) == ENOENT);
  CHECK(s.Entries("outside") == 0);
  close(d);
  close(sub);
  close(root);
}

TEST_CASE(owner_and_times_of_a_symlink_leave_its_target_alone) {
  Scratch s;
  int root = OpenDirPath(s.At("root"));
  SymlinkAt(root, "l", s.At("outside"));
  struct stat before;
  stat(s.At("outside").c_str(), &before);
  SetMtimeAt(root, "l", 1234567890, 123456789);
  if (geteuid() == 0) ChownAt(root, "l", 4321, 8765);
  struct stat link, after;
  lstat(s.At("root/l").c_str(), &link);
  stat(s.At("outside").c_str(), &after);
  CHECK(link.st_mtim.tv_sec == 1234567890 && link.st_mtim.tv_nsec == 123456789);
  if (geteuid() == 0) CHECK(link.st_uid == 4321 && link.st_gid == 8765);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_uid == before.st_uid);
  int f = CreateFileAt(root, "f", 0600);
  SetMtimeAt(f, "", -5, 999999999);
  struct stat fs;
  fstat(f, &fs);
  CHECK(fs.st_mtim.tv_sec == -5 && fs.st_mtim.tv_nsec == 999999999);
  close(f);
  close(root);
}

TEST_CASE(rename_replace_no_replace_exchange) {
  Scratch s;
  int root = OpenDirPath(s.At("root"));
  close(MakeDirAt(root, "a", 0700));
  close(MakeDirAt(root, "b", 0700));
  close(CreateFileAt(root, "a-only", 0600));
  rename(s.At("root/a-only").c_str(), s.At("root/a/mark").c_str());
  bool refused = false;
  try {
    RenameAt(root, "a", "b", RenameMode::kNoReplace);
  } catch (const IoError& e) {
    refused = e.err() == EEXIST;
  }
  CHECK(refused);
  RenameAt(root, "a", "b", RenameMode::kExchange);
  CHECK(s.Exists("root/b/mark") && !s.Exists("root/a/mark"));
  RenameAt(root, "b", "c", RenameMode::kNoReplace);
  CHECK(s.Exists("root/c/mark") && !s.Exists("root/b"));
  close(root);
}

TEST_CASE(remove_tree_never_follows_a_symlink_nor_leaves_the_tree) {
  Scratch s;
  close(open(s.At("outside/keep").c_str(), O_CREAT | O_WRONLY, 0644));
  int root = OpenDirPath(s.At("root"));
  int t = MakeDirAt(root, "t", 0700);
  int ro = MakeDirAt(t, "ro", 0700);
  close(CreateFileAt(ro, "f", 0600));
  SymlinkAt(ro, "out", s.At("outside"));
  SymlinkAt(t, "out", s.At("outside"));
  fchmod(ro, 0555);
  close(ro);
  close(t);
  // A top-level symlink is removed itself.
  SymlinkAt(root, "link", s.At("outside"));
  CHECK(RemoveTreeAt(root, "link"));
  CHECK(RemoveTreeAt(root, "t"));
  CHECK(!RemoveTreeAt(root, "t"));
  CHECK(!s.Exists("root/t") && !s.Exists("root/link"));
  CHECK(s.Exists("outside/keep"));
  close(root);
}

TEST_CASE(an_exclusive_lock_is_held_by_one_open_file_at_a_time) {
  Scratch s;
  std::string path = s.At("root/lock");
  int a = open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  int b = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  CHECK(TryLockExclusive(a));
  CHECK(!TryLockExclusive(b));
  close(a);
  CHECK(TryLockExclusive(b));
  close(b);
}

TEST_CASE(remove_tree_stops_at_a_mount_point) {
  if (geteuid() != 0) return;
  Scratch s;
  mkdir(s.At("root/t").c_str(), 0755);
  mkdir(s.At("root/t/m").c_str(), 0755);
  if (mount("tmpfs", s.At("root/t/m").c_str(), "tmpfs", 0, "size=1m") != 0)
    return;  // no mounts here
  close(open(s.At("root/t/m/precious").c_str(), O_CREAT | O_WRONLY, 0644));
  int root = OpenDirPath(s.At("root"));
  bool refused = false;
  try {
    RemoveTreeAt(root, "t");
  } catch (const IoError& e) {
    refused = e.err() == EXDEV;
  }
  CHECK(refused);
  CHECK(s.Exists("root/t/m/precious"));
  umount(s.At("root/t/m").c_str());
  CHECK(RemoveTreeAt(root, "t"));
  close(root);
}

// Not root: a read-only or unreadable directory in the tree is made writable, then removed.
TEST_CASE(remove_tree_as_another_user_makes_read_only_directories_writable) {
  if (geteuid() != 0) return;
  Scratch s;
  chmod(s.path.c_str(), 0755);
  chown(s.At("root").c_str(), 65534, 65534);
  pid_t pid = fork();
  if (pid == 0) try {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
      int root = OpenDirPath(s.At("root"));
      int t = MakeDirAt(root, "t", 0700);
      int ro = MakeDirAt(t, "ro", 0700);
      close(CreateFileAt(ro, "f", 0600));
      close(MakeDirAt(ro, "closed", 0700));
      fchmodat(ro, "closed", 0, 0);
      fchmod(ro, 0555);
      close(ro);
      close(t);
      bool removed = RemoveTreeAt(root, "t") && KindAt(root, "t") == EntryKind::kNone;
      _exit(removed ? 0 : 1);
    } catch (const IoError& e) {
      std::fprintf(stderr, "  as another user: %s\n", e.what());
      _exit(3);
    }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(!s.Exists("root/t"));
}
